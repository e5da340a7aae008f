"""One caption of how dataset crops were cut, for the featvis and circuits pages alike."""

from jaxinterp.report.html import crop_words


def test_the_caption_follows_the_field_and_the_crop():
    assert crop_words({}) == "whole images (the layer has no spatial axes)"
    assert crop_words({"rf": {"size": [11, 11]}, "crop_size": [11, 11]}) == "receptive-field crops (11×11 px)"
    wide = crop_words({"rf": {"size": [91, 91]}, "crop_size": [40, 40], "crop_margin": 4})  # circuits
    assert "a 4-px margin (40×40 px)" in wide and "91×91-px receptive field is wider" in wide
    assert "a margin (40×40 px)" in crop_words({"rf": {"size": [91, 91]}, "crop_size": [40, 40]})  # featvis
