"""Flax CNNs with PyTorch layer names, their input conventions, and a registry."""

from jaxinterp.models.alexnet import AlexNet
from jaxinterp.models.base import ImageModel, ImageNetModel, Preprocess, ReLU, init
from jaxinterp.models.cifar_resnet import CifarResNet
from jaxinterp.models.googlenet import GoogLeNet
from jaxinterp.models.registry import class_names, get, names, register
from jaxinterp.models.resnet import CifarStemResNet, ResNet
from jaxinterp.models.small_cnn import SmallCNN, SmallCNNRGB
from jaxinterp.models.vgg import VGG

__all__ = [
    "AlexNet",
    "CifarResNet",
    "CifarStemResNet",
    "GoogLeNet",
    "ImageModel",
    "ImageNetModel",
    "Preprocess",
    "ReLU",
    "ResNet",
    "SmallCNN",
    "SmallCNNRGB",
    "VGG",
    "class_names",
    "get",
    "init",
    "names",
    "register",
]
