"""Figures and HTML from saved results; computes nothing."""

from jaxinterp.report.figures import QUANTILES, exemplar_grid, ii_boxplot, quantile_units
from jaxinterp.report.html import figure, page, table

__all__ = ["QUANTILES", "exemplar_grid", "figure", "ii_boxplot", "page", "quantile_units", "table"]
