"""The one Lyapunov routine of the project: QR (Benettin) spectra with block-averaged standard
errors and the Kaplan-Yorke dimension (:mod:`.spectrum`), and beside them the sharpness dimension
of Tuci et al. (2026) in the same Kaplan-Yorke form (:mod:`.sharpness`).  The EoS toys, the
analyzer and the trainer all import from here."""

from dynsim.analysis.lyapunov.sharpness import (SharpnessDimension, SharpnessExponents,
                                                jacobian_sharpness_exponents, sharpness_dimension,
                                                sharpness_exponents)
from dynsim.analysis.lyapunov.spectrum import (BENETTIN, KY_METHOD, LyapunovExponent,
                                               LyapunovSpectrum, kaplan_yorke_dimension,
                                               lyapunov_spectrum, start_frame)

__all__ = ["BENETTIN", "KY_METHOD", "LyapunovExponent", "LyapunovSpectrum", "SharpnessDimension",
           "SharpnessExponents", "jacobian_sharpness_exponents", "kaplan_yorke_dimension", "lyapunov_spectrum",
           "sharpness_dimension", "sharpness_exponents", "start_frame"]
