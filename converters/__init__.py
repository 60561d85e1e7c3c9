"""Model converters (installed as ``walle.converters``)."""
