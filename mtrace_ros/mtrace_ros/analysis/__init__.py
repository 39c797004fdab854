"""
Rebuilding traces after the fact: reading span records, trees, text and HTML views.

Spans come back from JSON Lines files (:mod:`.records`, which checks every
line of untrusted input) or from the span topic (:mod:`.recorder`, which
writes such files). :mod:`.trees` hangs them into one tree per trace and
renders text; :mod:`.html_report` draws the same trees as a self-contained page.
Nothing here needs a running ROS graph except the recorder.
"""
