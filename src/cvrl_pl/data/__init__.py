"""Data in: temporal sampling, datasets and DataModules."""
