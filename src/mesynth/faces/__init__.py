"""Faces, one stack for synthesis and evaluation alike: detection and 68-point landmarks
(:mod:`.landmarks`), the per-video crop (:mod:`.crop`, :mod:`.align`), landmark tracking
through a video (:mod:`.tracking`) and face descriptors (:mod:`.descriptors`).

Import from the submodules; this package imports nothing, so that a light module (the crop
reader, say) does not pay for dlib or tqdm.
"""
