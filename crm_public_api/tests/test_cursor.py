import unittest

from crm_public_api import cursor


class CursorTestCase(unittest.TestCase):

    def test_round_trip_keeps_values_and_id(self):
        digest = cursor.query_digest('name', [])
        token = cursor.encode(['Ada', None], 42, digest)

        self.assertEqual(cursor.decode(token, digest, 2), (['Ada', None], 42))
        self.assertNotIn('=', token)

    def test_cursor_of_another_query_is_rejected(self):
        token = cursor.encode(['Ada'], 42, cursor.query_digest('name', []))
        other = cursor.query_digest('-name', [])

        with self.assertRaisesRegex(cursor.InvalidCursor, 'another sort'):
            cursor.decode(token, other, 1)

    def test_garbage_is_rejected(self):
        digest = cursor.query_digest('', [])
        for token in ['', '!!!', 'e30', 'bnVsbA', 'W10', 'x' * 5000,
                cursor.encode([], True, digest),
                cursor.encode(['a'], 1, digest)]:
            with self.subTest(token=token):
                with self.assertRaises(cursor.InvalidCursor):
                    cursor.decode(token, digest, 0)

    def test_domain_after_ascending_value(self):
        domain = cursor.after_domain([('name', False)], ['Ada'], 7)

        self.assertEqual(domain, ['OR', [('name', '>', 'Ada')],
                [('name', '=', 'Ada'), [('id', '>', 7)]]])

    def test_domain_after_descending_value_includes_nulls(self):
        domain = cursor.after_domain([('name', True)], ['Ada'], 7)

        self.assertEqual(domain, ['OR',
                ['OR', [('name', '<', 'Ada')], [('name', '=', None)]],
                [('name', '=', 'Ada'), [('id', '>', 7)]]])

    def test_domain_after_null_ascending_reaches_every_value(self):
        domain = cursor.after_domain([('name', False)], [None], 7)

        self.assertEqual(domain, ['OR', [('name', '!=', None)],
                [('name', '=', None), [('id', '>', 7)]]])

    def test_domain_after_null_descending_stays_among_nulls(self):
        domain = cursor.after_domain([('name', True)], [None], 7)

        self.assertEqual(domain, [('name', '=', None), [('id', '>', 7)]])

    def test_cursor_of_sort_with_more_keys_names_the_sort(self):
        token = cursor.encode(
            ['Ada', 'CTO'], 42, cursor.query_digest('name,job_title', []))
        other = cursor.query_digest('name', [])

        with self.assertRaisesRegex(cursor.InvalidCursor, 'another sort'):
            cursor.decode(token, other, 1)
