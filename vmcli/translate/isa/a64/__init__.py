"""AArch64: the encoding table (Arm ARM notation), its decoder and the encoder, register names
and condition names."""
