from setuptools import find_packages, setup

package_name = 'dojo_sim'

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
    description='ROS 2 node serving the simulated SO-101 cell, the scripted pick-and-place expert episode runner and the dojo expert verb.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sim_node = dojo_sim.sim_node:main',
            'pick_place_expert = dojo_sim.pick_place_expert:main',
        ],
        'dojo.verbs': ['expert = dojo_sim.expert_episodes:ExpertVerb'],
    },
)
