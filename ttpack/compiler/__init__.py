"""The compiler: IR, op registry, passes."""
