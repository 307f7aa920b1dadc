"""AMD's ROCm SDK wheels: the SDK, the selector and its unpack script."""
