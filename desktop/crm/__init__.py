"""Zoho CRM both ways: connect, the five setup steps, pull, push, dry run, fetch and search.

Qt-free. The wizard and the integration page call :class:`desktop.crm.service.CrmIntegration`
and :class:`desktop.crm.setup.CrmSetup`; ``billbridge crm …`` does the same headless.
"""
