"""snnctl: integer spiking neural network controllers, from evolution to simulation to a microcontroller.

One integer neuron model (docs/integer-model.md) is executed bit-identically by the numba runtime in
this package and by the C99 firmware core in ``firmware_bridge/firmware/``. Importing this package is
light on purpose: numba and the kernels load only when a module that needs them is imported.
"""

__version__ = "0.1.0"
