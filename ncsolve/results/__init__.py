"""Results: the one base every answer subclasses, its named constants and the table toolkit.

Modules
-------
base       Result (core fields, their JSON and text, the hooks each answer fills in),
           SearchRecord and Found (how an answer was reached), Mapped (an answer
           with its training mapping)
constants  certainty words, Gram limits, tie, rank and collapse tolerances
table      JSON columns and the readable tables shared by every text output
"""
