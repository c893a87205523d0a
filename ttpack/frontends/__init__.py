"""Frontends: framework programs -> ttpack IR."""
