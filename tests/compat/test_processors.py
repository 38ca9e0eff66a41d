"""The seed's ``panovlm.processors`` package re-exports the core image processor."""

from panovlm.data.image import PanoramaImageProcessor


def test_processors_package_reexports():
    from panovlm.processors import PanoramaImageProcessor as Reexported

    assert Reexported is PanoramaImageProcessor
