"""Results: the one base every answer subclasses and the table toolkit.

Modules
-------
base       Result (core fields, their JSON and text, the hooks each answer fills in),
           ClassesFromDirections (per-class fields of the closed forms), SearchRecord
           and Found (how an answer was reached), Mapped (an answer with its
           training mapping)
table      JSON columns and the readable tables shared by every text output

The named constants (certainty words, Gram limits, tolerances) live in
:mod:`ncsolve.core.constants`, the lowest layer that reads them.
"""
