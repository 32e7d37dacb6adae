"""Controllers with one face: ``reset()`` and ``act(obs) -> action`` (a float32 array).

Pure numpy at import time (no gymnasium, no MuJoCo): the PID baseline lives in ``pid.py``; the
spiking controllers (blimp SNN, NCAP, L2MU) sit beside it. ``loop_backends.py`` is the face a
sensing-to-action loop sees of a controller wherever it runs (``act(obs) -> Action``, faults).
"""
