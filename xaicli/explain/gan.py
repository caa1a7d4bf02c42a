"""GAN runs: placeholder replaced below."""
