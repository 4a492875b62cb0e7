from setuptools import find_packages, setup

package_name = 'dojo_ik'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    extras_require={'test': ['pytest']},
    zip_safe=False,
    maintainer='dojo maintainers',
    maintainer_email='dojo@example.org',
    description='Classical IK baseline node: Cartesian targets to limit-respecting joint commands.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'ik_node = dojo_ik.ik_node:main',
        ],
    },
)
