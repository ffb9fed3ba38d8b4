"""Monitoring: drift, data quality, performance, label-free estimation, reports, alerts."""
