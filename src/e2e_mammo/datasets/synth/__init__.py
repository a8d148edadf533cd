"""What the built-in synthetic datasets share: :mod:`.phantom` draws the pictures (breast, tissue,
masses, calcifications, film vs FFDM intensity profiles), :mod:`.dicom_writer` writes DICOM
files in the real datasets' shapes, :mod:`.staging` builds an output folder under a temporary
name and replaces only a folder it built itself. The generators live beside their readers:
:func:`e2e_mammo.datasets.cbis_ddsm.synthetic.synth_cbis_ddsm` and
:func:`e2e_mammo.datasets.inbreast.synthetic.synth_inbreast`.
"""
