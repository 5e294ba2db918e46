"""Evaluation: accuracy, error-detection calibration, reports and plots."""
