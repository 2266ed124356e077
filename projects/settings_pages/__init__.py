"""/apps/{app}/settings/: an app's admins manage its targets, access and GitHub webhook from pages.

Thin views over the same services the API calls (projects/services.py, projects/ci.py), so the
validation, the access checks and the audit are the API's own; a service's "field: sentence"
error shows beside that field of the form.
"""
