"""Wizards: step-by-step dialogs that collect data and commit it once, on Finish."""
