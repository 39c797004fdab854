"""
The ``mtrace`` command: thin verbs over :mod:`mtrace_ros.analysis`.

``mtrace collect`` records the span topic, ``mtrace record`` a rosbag2 recording,
``mtrace tree`` and ``mtrace html`` show the traces of a span file or a recording.
Each verb is one module with
``add_arguments`` and ``main``; :mod:`.main` dispatches.
"""
