import os

import pytest
import torch

DATA = os.path.join(os.path.dirname(__file__), "data")

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param
