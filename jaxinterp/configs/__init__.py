"""Example sweep configs (``jaxinterp sweep jaxinterp/configs/NAME.py --out DIR``)."""
