"""Power laws: exact MLE fits with the xmin scan, windows, the bootstrap goodness of fit, likelihood-
ratio tests against alternatives, and binned data (Clauset, Shalizi & Newman 2009; Virkar & Clauset
2014).  See the module docstrings for the formulas."""

from dynsim.analysis.powerlaw.compare import ALTERNATIVES, Comparison, compare
from dynsim.analysis.powerlaw.fit import PowerLawFit, fit_power_law, sample_power_law
from dynsim.analysis.powerlaw.gof import GofResult, gof_bootstrap
from dynsim.analysis.powerlaw.verdict import PowerLawAnalysis, analyze_power_law

__all__ = ["ALTERNATIVES", "Comparison", "GofResult", "PowerLawAnalysis", "PowerLawFit",
           "analyze_power_law", "compare", "fit_power_law", "gof_bootstrap", "sample_power_law"]
