"""Billbridge: one desktop workspace for subscription billing, CRM and customer health."""

__version__ = "0.1.0"
