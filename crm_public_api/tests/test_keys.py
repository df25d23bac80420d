import math
import re
import unittest

from crm_public_api import keys


class KeyFormatTestCase(unittest.TestCase):

    def test_generated_key_has_prefix_body_and_checksum(self):
        key = keys.generate_key()

        self.assertRegex(key, r'^crm_[0-9A-Za-z]{36}$')
        self.assertEqual(keys.check_format(key), key[:12])

    def test_random_part_carries_at_least_160_bits(self):
        bits = keys.RANDOM_LENGTH * math.log2(len(keys.ALPHABET))

        self.assertGreaterEqual(bits, 160)

    def test_generated_keys_differ(self):
        generated = {keys.generate_key() for _ in range(1000)}

        self.assertEqual(len(generated), 1000)

    def test_mistyped_character_fails_checksum(self):
        key = keys.generate_key()
        position = 10
        replacement = '0' if key[position] != '0' else '1'
        mistyped = key[:position] + replacement + key[position + 1:]

        with self.assertRaisesRegex(keys.MalformedKey, 'checksum'):
            keys.check_format(mistyped)

    def test_malformed_values_are_rejected(self):
        key = keys.generate_key()
        for value in ['', 'crm_', key[:-1], key + 'a', 'xyz' + key[3:],
                key.replace(key[5], '-'), None, 42, key + '\n',
                'crm_' + 'é' * 36]:
            with self.subTest(value=value):
                with self.assertRaises(keys.MalformedKey):
                    keys.check_format(value)

    def test_hash_depends_on_server_secret(self):
        key = keys.generate_key()

        first = keys.hash_key(key, 'secret one')
        second = keys.hash_key(key, 'secret two')

        self.assertNotEqual(first, second)
        self.assertTrue(re.fullmatch(r'[0-9a-f]{64}', first))
        self.assertNotIn(key, first)

    def test_verify_accepts_only_the_same_key(self):
        key, other = keys.generate_key(), keys.generate_key()
        stored = keys.hash_key(key, 'secret')

        self.assertTrue(keys.verify_key(key, 'secret', stored))
        self.assertFalse(keys.verify_key(other, 'secret', stored))
        self.assertFalse(keys.verify_key(key, 'other secret', stored))
