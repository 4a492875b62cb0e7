"""dojo_description installs the data dojo_core reads into share/dojo_description/.

The files stay where users look for them (urdf/ and config/features/ at the repository root; the
folders here are symbolic links). dojo_core declares this package as a dependency; dojo_bringup,
which depends on every node package and so on dojo_core, could not be one (a dependency cycle).
"""
from glob import glob

from setuptools import setup

package_name = 'dojo_description'

setup(
    name=package_name,
    version='0.1.0',
    packages=[],
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/urdf', sorted(glob('urdf/*.xacro'))),
        ('share/' + package_name + '/features', sorted(glob('features/*.yaml'))),
    ],
    install_requires=['setuptools'],
    zip_safe=False,
    maintainer='dojo maintainers',
    maintainer_email='dojo@example.org',
    description='The SO-101 robot description and the feature maps that dojo_core reads.',
    license='Apache-2.0',
)
