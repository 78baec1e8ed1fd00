"""The lesson's NeuralNetwork, written as the lesson writes it (fed ToTensor [0, 1] images)."""

import torch
import torch.nn.functional as F
from torch import nn


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(256, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def train_lesson_model(root, steps: int = 60, seed: int = 0) -> NeuralNetwork:
    """A few Adam steps on the tiny IDX fixture, inputs as ToTensor gives them."""
    from digitpad.core.data.mnist import load_split, to_float_images

    torch.manual_seed(seed)
    x, y = load_split(root, train=True)
    x = to_float_images(x)
    model = NeuralNetwork()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for step in range(steps):
        i = torch.randint(0, len(x), (64,))
        loss = F.cross_entropy(model(x[i]), y[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()
