"""dojo_bringup installs the workspace's top-level launch/, config/ and urdf/ into its share directory.

The three folders live at the repository root (the design card puts them there, where users look
first); this package reaches them through symbolic links so that `ros2 launch dojo_bringup ...`
and `get_package_share_directory('dojo_bringup')` work on a real ROS install.
"""
import os

from setuptools import setup

package_name = 'dojo_bringup'
here = os.path.dirname(os.path.abspath(__file__))


def share_tree(folder: str) -> list[tuple[str, list[str]]]:
    """data_files entries that mirror `folder` (recursively) under share/<package>/."""
    entries = []
    for root, _dirs, files in os.walk(os.path.join(here, folder), followlinks=True):
        rel = os.path.relpath(root, here)
        paths = [os.path.join(rel, f) for f in sorted(files) if not f.endswith('.pyc')]
        if paths:
            entries.append((os.path.join('share', package_name, rel), paths))
    return entries


setup(
    name=package_name,
    version='0.1.0',
    packages=[],
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        *share_tree('launch'),
        *share_tree('config'),
        *share_tree('urdf'),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},
    zip_safe=False,
    maintainer='dojo maintainers',
    maintainer_email='dojo@example.org',
    description='Launch files, parameter files and the robot description of the dojo suite.',
    license='Apache-2.0',
)
