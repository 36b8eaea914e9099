"""Event payload schemas, one module per producing service (the published contract).

Producers validate outgoing ``data`` with ``unknown=RAISE``; consumers load with
``unknown=EXCLUDE`` so that adding an optional field never breaks them.
"""
