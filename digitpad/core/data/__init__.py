"""What the networks read: preprocessing, MNIST, the user's samples, synthesised styles, augmentation."""
