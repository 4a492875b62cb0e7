from setuptools import find_packages, setup

package_name = 'dojo_eval'

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
    description='Evaluation on the sim cell through the ROS nodes (dojo eval) and the learning loop (dojo demo).',
    license='Apache-2.0',
    entry_points={
        'dojo.verbs': ['eval = dojo_eval.evaluate:EvalVerb', 'demo = dojo_eval.demo:DemoVerb'],
    },
)
