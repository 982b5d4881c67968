"""GPU compute: one driver layer over OpenCL devices (and, later, native CUDA), the built-in kernel
library, device selection and a multi-device scheduler. It knows nothing of guests.

Importing this package loads no vendor library; see docs/gpu.md for the API.
"""
