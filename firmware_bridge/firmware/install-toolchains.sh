#!/bin/sh
# Install the cross toolchains and emulators of the firmware ports (Debian/Ubuntu; run as root or
# with sudo). Currently:
#   gcc-arm-none-eabi  arm-none-eabi-gcc/nm/size for ports/lm3s6965evb (Cortex-M3, freestanding:
#                      no newlib needed)
#   qemu-system-arm    `qemu-system-arm -M lm3s6965evb` to run that image
#   gcc-aarch64-linux-gnu libc6-dev-arm64-cross    the linux-aarch64 edge-board program (static)
#   gcc-arm-linux-gnueabihf libc6-dev-armhf-cross  the linux-armhf edge-board program (static)
#   qemu-user          `qemu-aarch64` / `qemu-arm` to run those programs here (user mode)
# --no-install-recommends keeps the download to ~550 MB instead of ~2.5 GB.
set -eu
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    gcc-arm-none-eabi qemu-system-arm \
    gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross qemu-user
