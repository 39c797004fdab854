"""The ``mtrace`` command: thin verbs over the library (collector, trees, html_report)."""
