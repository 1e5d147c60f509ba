"""mcu.rtp"""
