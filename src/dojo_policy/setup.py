from setuptools import find_packages, setup

package_name = 'dojo_policy'

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
    description='ROS 2 lifecycle node serving learned policies (ACT now; Diffusion and VLA later) with hard safety limits.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'policy_node = dojo_policy.policy_node:main',
        ],
    },
)
