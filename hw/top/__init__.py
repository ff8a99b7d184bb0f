"""The AXI top: RosvdCore and its small components (bus slave, register decode, stream
adapters, interrupts, device DNA), with the register map defined once as data."""
