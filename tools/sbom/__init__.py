"""What each container image installs: CycloneDX SBOMs and licence listings (tools/sbom.sh).

- `images`: the Dockerfiles read as data (stages, COPY and `uv` lines), and an image's
  install reproduced in a folder without Docker;
- `licences`: each package's licence from its metadata (or a reviewed entry of
  `reviewed.toml`), and the policy: nothing unknown, nothing on the deny list;
- `debian`: the Debian packages of an image's file system (dpkg's database);
- `__main__`: the command line `tools/sbom.sh` runs.
"""
