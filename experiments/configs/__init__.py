"""The settings of record as JSON files (installed as `condgan.configs`).

bases/ (the two bases), recipes/ (recommended, demo), ablation/ (the arms' overrides)
and the ablation's dataset specs; README.md says what is where. Read them with
`condgan.config.Config.load` (which follows "extends"); from an installed copy,
`importlib.resources.files("condgan.configs") / "recipes" / "demo.json"`.
"""
