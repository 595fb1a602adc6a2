"""The motion bitstream (`motioncontent codec encode/decode`): content once, then entropy-coded motion codes.

- bitstream.py: the file format (header, content, payload, checksums) and its checks
- entropy.py: range coding of the codes (constriction) with adaptive tables, static tables or the motion prior
- motion_codec.py: video -> bitstream -> video with a BCD model (and optionally a prior)
"""
