from setuptools import find_packages, setup

package_name = 'dojo_core'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools', 'numpy', 'pyyaml', 'mujoco>=3.2', 'pin>=3', 'xacro', 'gymnasium',
                      'pyarrow', 'pandas', 'av', 'rosbags', 'huggingface_hub', 'tqdm', 'safetensors',
                      'feetech-servo-sdk', 'dynamixel-sdk', 'pyserial', 'opencv-python-headless',
                      'torch>=2.2', 'matplotlib', 'diffusers'],
    extras_require={'test': ['pytest']},
    zip_safe=False,
    maintainer='dojo maintainers',
    maintainer_email='dojo@example.org',
    description='ROS-free core of dojo: sim cell, robot model, datasets, learning, and the dojo CLI.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': ['dojo = dojo_core.cli:main'],
        'dojo.verbs': [
            'urdf = dojo_core.robot.cli:UrdfVerb',
            'dataset = dojo_core.dataset.cli:DatasetVerb',
            'convert = dojo_core.rosbag.convert:ConvertVerb',
            'calibrate = dojo_core.motors.calibrate:CalibrateVerb',
            'train = dojo_core.training.cli:TrainVerb',
            'bench = dojo_core.bench.cli:BenchVerb',
        ],
        'dojo.policies': [
            'act = dojo_core.policies.act:ACTPolicy',
            'diffusion = dojo_core.policies.diffusion:DiffusionPolicy',
        ],
    },
)
