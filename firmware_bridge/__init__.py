"""Firmware bridge: serial protocol, device client, deploy and hardware-in-the-loop; firmware/ holds the C99 core."""
