"""Frames: one concept, from the source file's pixel data to the rows of ``dicom.frame`` and back.

- :mod:`~medlake.dicom.frames.source`: a source instance's pixel data, the policy (transcode,
  keep or pass through) and its frames decoded one at a time (``decode_source_frame``);
- :mod:`~medlake.dicom.frames.htj2k`: the HTJ2K codec (``encode_htj2k_frame``,
  ``verify_htj2k_frame``, ``decode_htj2k_frame``);
- :mod:`~medlake.dicom.frames.transcode`: the policy applied to the frames of one instance;
- :mod:`~medlake.dicom.frames.work_units`: instances cut into units of frames and packed into tasks;
- :mod:`~medlake.dicom.frames.table`: the ``dicom.frame`` table;
- :mod:`~medlake.dicom.frames.stored`: a stored frame fetched and decoded (``decode_stored_frame``).
"""
