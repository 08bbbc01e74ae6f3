"""Results: the protocol every answer follows and the one table toolkit that renders them.

Modules
-------
base   the Result protocol (core fields) and Mapped (an answer with its training mapping)
table  JSON columns and the readable tables shared by every text output
"""
